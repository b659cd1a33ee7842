// Package metrics is meshproxy's small Prometheus registry.
//
// The official client library costs megabytes of heap and a dependency tree
// that a memory-frugal sidecar cannot afford, and its vector lookups
// (WithLabelValues) hash and allocate on every call. meshproxy needs far less:
// a handful of families, written in the text exposition format 0.0.4, and a
// recording path that is lock-free and allocation-free because it runs once
// per proxied request on several event-loop goroutines.
//
// The design follows from that split between a cold and a hot path:
//
//   - Cold path (config compile, startup): Registry.Requests, Registry.Counter
//     and Registry.Gauge take a mutex, may allocate, and return a pointer that
//     the caller keeps. The same labels return the same pointer, so a
//     config reload that re-resolves its series keeps counting where the old
//     config stopped instead of resetting counters (which Prometheus would
//     read as a process restart). Series whose labels name what a reload
//     removed (routes, backends, endpoints) are dropped with
//     Registry.RetainRequests and Registry.Remove, so churning configs do
//     not grow the scrape or the heap; such a series that comes back later
//     starts from zero.
//   - Hot path (per request): methods on the returned pointers only touch
//     atomics: no map lookup, no lock, no allocation.
//   - Scrape: Registry.WriteText snapshots the series under a read lock and
//     formats them outside it, so a slow scraper never blocks registration.
//
// Request metrics are named so Istio and Linkerd users recognise them:
//
//	meshproxy_requests_total{direction,route,backend,code}        counter
//	meshproxy_request_duration_ms{direction,route,backend,le}     histogram
//
// RegisterProcessMetrics adds the standard process_* and go_* gauges that
// dashboards built for the official client expect.
package metrics
