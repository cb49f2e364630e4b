"""Reading a dataset for analysis: sessions, frozen protocols, stimulus tags, faces tables."""
