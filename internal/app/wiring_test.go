package app

import (
	"reflect"
	"testing"

	"github.com/watchkeeper/watchkeeper/internal/approval"
	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/slack"
)

// The long-running services are complete when built: nothing outside can
// reassign a hook or a collaborator after New (issue 17: callbacks used to
// be assigned after construction and reassigned when Slack was built,
// while requests were already running).
func TestServicesAreFixedWhenBuilt(t *testing.T) {
	for _, v := range []any{approval.Service{}, incident.Service{}, incident.Ledger{}, slack.Bot{}} {
		typ := reflect.TypeOf(v)
		for f := range typ.Fields() {
			if f.IsExported() {
				t.Errorf("%s has the exported field %s: it can be changed after it is built", typ, f.Name)
			}
		}
	}
}
