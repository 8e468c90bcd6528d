"""Report section of the stratified study (filled in below)."""
