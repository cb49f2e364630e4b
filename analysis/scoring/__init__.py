"""Scoring the faces of sessions and videos, and the scored files (uses faces/ and expression/)."""
