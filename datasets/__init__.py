"""eqzoo dataset adapters: scikit-learn, tensorflow-datasets and synthetic symmetric tasks."""
