VALUE = "sibling imported"
