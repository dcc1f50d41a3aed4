"""Generation: a photo becomes a printable relief model (STL, GLB, OBJ), on the job queue."""
