//! Generators of bad requests for the property test of the HTTP API.
