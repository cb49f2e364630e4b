"""Expression measures from faces: landmark action units, composites, FER probabilities."""
