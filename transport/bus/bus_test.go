package bus_test

import (
	"testing"

	"github.com/authzd/authzd/transport/bustest"
)

func TestConformanceSingleServer(t *testing.T) {
	bustest.Run(t, func(t *testing.T) (bustest.Bus, bustest.Bus) {
		srv, tm := bustest.Servers(t, 1)
		return bustest.Connect(t, srv[0].ClientURL(), tm, 1), bustest.Connect(t, srv[0].ClientURL(), tm, 1)
	})
}

func TestConformanceCluster(t *testing.T) {
	bustest.Run(t, func(t *testing.T) (bustest.Bus, bustest.Bus) {
		srv, tm := bustest.Servers(t, 3)
		return bustest.Connect(t, srv[0].ClientURL(), tm, 3), bustest.Connect(t, srv[2].ClientURL(), tm, 3)
	})
}
