"""Other tools' outputs: OpenFace and py-feat tables read into the faces schema, and agreement with OpenFace."""
