//go:build !linux

package fibertest

// idleScenarios need Linux's shared disconnect watch.
var idleScenarios []scenario
