"""notes: a small note-taking command line app that reports its crashes with crashveil."""

__version__ = "1.0.0"
