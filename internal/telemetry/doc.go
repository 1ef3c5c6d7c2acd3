// Package telemetry turns the engine's observer events into what operators
// collect: Prometheus metrics (the OpenTelemetry GenAI histograms under
// their Prometheus names, plus switchboard_* gateway metrics) and
// OpenTelemetry traces over OTLP. Label values are bounded: models and
// channels are capped per label, and key names appear only when the
// operator opts in.
package telemetry
