"""LightningDataModules: embedded data sets, generated data, and standard file formats."""
