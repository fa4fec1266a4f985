//! Unit tests of the dialog layer.
