"""Files the project writes: the one CSV writer for files people open, and safe names, modes
and whole-or-nothing writes on disk.
"""
