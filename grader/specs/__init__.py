"""One module per chapter (``chNN.py``), each exposing ``CHAPTER``; see grader/course.py."""
