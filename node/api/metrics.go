package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// apiMetrics are the series the API owns: HTTP requests by route pattern,
// decisions by API and result, and the hits and misses of its caches. They
// are registered in the registry of Config.Registry; docs/metrics.md lists
// them.
type apiMetrics struct {
	inFlight  prometheus.Gauge
	requests  *prometheus.CounterVec   // route, method, code
	duration  *prometheus.HistogramVec // route, method
	decisions *prometheus.CounterVec   // api, result
	decideDur *prometheus.HistogramVec // api
}

// Decision API label values of authzd_decisions_total and
// authzd_decision_request_duration_seconds.
const (
	apiEvaluate      = "evaluate"
	apiBatch         = "batch"
	apiHasPrivileges = "has_privileges"
	apiPrivileges    = "privileges"
	apiWhoCan        = "who_can"
)

// latencyBuckets cover a decision served from memory (tens of microseconds)
// up to a write waiting for a slow commit (seconds).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newAPIMetrics(reg prometheus.Registerer, a *API) *apiMetrics {
	m := &apiMetrics{
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authzd_http_requests_in_flight", Help: "HTTP requests being served by this node.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authzd_http_requests_total", Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authzd_http_request_duration_seconds", Help: "Time to serve an HTTP request, by route pattern and method (the change stream counts its whole connection).",
			Buckets: latencyBuckets,
		}, []string{"route", "method"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authzd_decisions_total", Help: "Decisions answered by the REST decision API, by API and result (allowed, denied; error for refused batch items).",
		}, []string{"api", "result"}),
		decideDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authzd_decision_request_duration_seconds", Help: "Time to serve a REST decision request including authentication, by API.",
			Buckets: latencyBuckets,
		}, []string{"api"}),
	}
	for _, api := range []string{apiEvaluate, apiBatch, apiHasPrivileges} {
		for _, res := range []string{"allowed", "denied"} {
			m.decisions.WithLabelValues(api, res)
		}
	}
	cache := func(name, cache, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{"cache": cache}}, f)
	}
	reg.MustRegister(m.inFlight, m.requests, m.duration, m.decisions, m.decideDur,
		cache("authzd_cache_hits_total", "credentials", "Lookups answered by a cache: credentials (passwords bcrypt already verified) or dn (rendered client certificate DNs).",
			func() float64 { return float64(a.creds.hits.Load()) }),
		cache("authzd_cache_misses_total", "credentials", "Lookups a cache could not answer: credentials (bcrypt ran) or dn (the certificate DN was rendered).",
			func() float64 { return float64(a.creds.misses.Load()) }),
		cache("authzd_cache_hits_total", "dn", "Lookups answered by a cache: credentials (passwords bcrypt already verified) or dn (rendered client certificate DNs).",
			func() float64 { return float64(a.dns.hits.Load()) }),
		cache("authzd_cache_misses_total", "dn", "Lookups a cache could not answer: credentials (bcrypt ran) or dn (the certificate DN was rendered).",
			func() float64 { return float64(a.dns.misses.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authzd_cache_entries", Help: "Entries held by a cache.", ConstLabels: prometheus.Labels{"cache": "credentials"},
		}, func() float64 { return float64(a.creds.len()) }),
	)
	return m
}

// decided counts one decision of api.
func (m *apiMetrics) decided(api string, allowed bool) {
	res := "denied"
	if allowed {
		res = "allowed"
	}
	m.decisions.WithLabelValues(api, res).Inc()
}

// timed wraps the handler of a decision API with its latency histogram.
func (m *apiMetrics) timed(api string, h http.Handler) http.Handler {
	obs := m.decideDur.WithLabelValues(api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		obs.Observe(time.Since(start).Seconds())
	})
}

// serve runs the mux and records the request under the pattern the mux
// matched (r.Pattern, set by ServeMux on r itself), never the raw path: the
// label values stay a fixed set whatever clients send.
func (m *apiMetrics) serve(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	m.inFlight.Inc()
	defer m.inFlight.Dec()
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	mux.ServeHTTP(rec, r)
	route := r.Pattern
	if route == "" {
		route = "none" // redirects the mux answers itself
	}
	method := methodLabel(r.Method)
	code := rec.status
	if code == 0 {
		code = http.StatusOK
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
}

// methodLabel maps the request method to a fixed set of label values.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// statusRecorder remembers the status code written through it. Unwrap lets
// http.ResponseController reach the connection (flushes, deadlines).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
