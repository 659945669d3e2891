"""flopsight.worker."""
