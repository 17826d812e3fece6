class LabError(Exception):
    """A failure the lab reports as one clear line and a non-zero exit."""
