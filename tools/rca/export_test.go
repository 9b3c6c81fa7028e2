package rca

// ShortDuration is shortDuration, for the external tests.
var ShortDuration = shortDuration
