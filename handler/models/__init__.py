"""How models are obtained and kept: weights downloaded and verified, loaded lazily once."""
