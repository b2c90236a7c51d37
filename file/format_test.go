package file

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadAll(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		version int64
		ids     []int64
	}{
		{"Written", "{\"format\":1,\"version\":2,\n\"state\":{\"sites\":[]},\n\"events\":[\n{\"id\":1},\n{\"id\":2}\n]}\n", 2, []int64{1, 2}},
		{"NoEvents", `{"format":1,"version":0,"state":{"sites":[]},"events":[]}`, 0, nil},
		{"NoEventsKey", `{"version":4,"state":{"sites":[]}}`, 4, nil},
		{"EventsFirst", `{"events":[{"id":7}],"version":1,"state":{"sites":[]}}`, 1, []int64{7}},
		{"KeyAfterEvents", `{"version":1,"state":{"sites":[]},"events":[{"id":1},{"id":2}],"note":"x"}`, 1, []int64{1, 2}},
		{"Indented", "{\n  \"version\": 1,\n  \"state\": {\"sites\": []},\n  \"events\" : [ {\"id\": 1, \"reason\": \"a ] b } c, \\\" d\"} , {\"id\":2,\"after\":{\"ignore\":[{\"value\":\"/x\"}]}} ]\n}\n", 1, []int64{1, 2}},
		{"VersionFromState", `{"state":{"version":5,"sites":[]},"events":[]}`, 5, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := readAll([]byte(tc.in))
			if err != nil {
				t.Fatalf("readAll: %v", err)
			}
			if d.Version != tc.version || d.State.Version != tc.version {
				t.Errorf("version %d, state version %d; want %d", d.Version, d.State.Version, tc.version)
			}
			var ids []int64
			for _, raw := range d.Events {
				var e struct{ ID int64 }
				if err := json.Unmarshal(raw, &e); err != nil {
					t.Fatalf("event %s: %v", raw, err)
				}
				ids = append(ids, e.ID)
			}
			if diff := cmp.Diff(ids, tc.ids); diff != "" {
				t.Errorf("event IDs (-got +want):\n%s", diff)
			}
			head, err := readHead(strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("readHead: %v", err)
			}
			if head.Version != tc.version {
				t.Errorf("readHead: version %d, want %d", head.Version, tc.version)
			}
		})
	}
}

func TestReadAllErrors(t *testing.T) {
	for _, in := range []string{
		``,
		`[]`,
		`{"version":1}`,
		`{"version":1,"state":{"sites":[]},"events":[{"id":1},]}`,
		`{"version":1,"state":{"sites":[]},"events":[{"id":1}`,
		`{"version":1,"state":{"sites":[]},"events":{"id":1}}`,
		`{"version":1,"state":{"sites":[]},"events":[1,2]}`,
		`{"format":2,"version":1,"state":{"sites":[]}}`,
	} {
		if _, err := readAll([]byte(in)); err == nil {
			t.Errorf("readAll(%q) succeeded, want an error", in)
		}
	}
}

// FuzzSplitArray checks splitArray against encoding/json: on an array of
// objects that json accepts, it finds the same elements.
func FuzzSplitArray(f *testing.F) {
	for _, s := range []string{
		`[]`, `[{}]`, ` : [ {"a":1} , {"b":"]},\""} ]`, `[{"a":[{"b":[]}]},{"c":"\\"}]`, `[{"a":"}"}`, `[1]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		elems, end, err := splitArray([]byte(s), 0)
		var want []json.RawMessage
		in := strings.TrimLeft(s, " \t\r\n")
		in = strings.TrimPrefix(in, ":")
		if json.Unmarshal([]byte(in), &want) != nil {
			return // splitArray checks structure only: it may accept more
		}
		for _, w := range want {
			if len(w) == 0 || w[0] != '{' {
				return // not an array of objects
			}
		}
		if err != nil {
			t.Fatalf("splitArray(%q): %v; encoding/json accepts it", s, err)
		}
		if strings.TrimSpace(s[end:]) != "" {
			t.Fatalf("splitArray(%q) ends at %d, before %q", s, end, s[end:])
		}
		if len(elems) != len(want) {
			t.Fatalf("splitArray(%q) = %d elements, want %d", s, len(elems), len(want))
		}
		for i := range want {
			if !bytes.Equal(elems[i], bytes.TrimSpace(want[i])) {
				t.Errorf("element %d = %q, want %q", i, elems[i], want[i])
			}
		}
	})
}
