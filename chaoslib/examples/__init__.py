"""Systems that ship with chaoslib so that `chaos suite` runs from a wheel, outside any checkout."""
