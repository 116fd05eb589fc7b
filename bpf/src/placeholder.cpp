// Replaced by the owning issue's sources.
