"""MiniMaker: photo to printable 3D model, privacy kept by construction."""
