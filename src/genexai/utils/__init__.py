"""Small shared helpers: atomic file output, Hydra instantiation of callback/logger groups."""
