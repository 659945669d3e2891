"""flopsight.source."""
