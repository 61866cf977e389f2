"""Data in: sources fetched and verified, archives read safely, images as uint8 arrays."""
