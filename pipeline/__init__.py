"""Library code the stages share. Nothing here knows about DVC."""
