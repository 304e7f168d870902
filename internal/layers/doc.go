// Package layers holds the test that keeps eacgate's packages layered: a package imports only
// packages of lower layers (ARCHITECTURE.md shows the layers and why).
package layers
