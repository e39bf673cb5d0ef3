"""Every query lives here, already filtered to what the principal may see."""
