"""The error of the distributed layer."""


class DistributedError(RuntimeError):
    """A collective failed or timed out, or the processes of a group disagree."""
