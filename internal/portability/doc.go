// Package portability holds the test that mounts one handler on every
// frameworks and checks that clients receive the same bytes from each. It is
// test-only: the one place outside the adapters that imports every
// framework.
package portability
