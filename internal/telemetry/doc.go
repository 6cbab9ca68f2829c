// Package telemetry builds what lets an operator see inside Codex-32: the
// Prometheus metrics (metrics*.go), the OpenTelemetry traces (tracing*.go)
// and the structured logs that join them (logging*.go). main builds each
// once and hands it to web, handlers and runner as an explicit dependency;
// nothing here registers on a global (Prometheus's default registry, the
// global OpenTelemetry provider), so tests build their own.
//
// Every recording method is safe on a nil receiver and does nothing there,
// so a component given no telemetry needs no checks.
package telemetry
