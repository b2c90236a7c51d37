package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/gomaint/maintenance"
)

// Format is the version of the file layout that this package writes.
const Format = 1

// document is the content of a store file. Events are kept encoded: a write
// appends to them and Events decodes only the ones it returns.
type document struct {
	Version int64
	State   *maintenance.State
	// Events are oldest first.
	Events []json.RawMessage
}

// readHead reads the header and the state of a store file from r. It stops
// before the events (the file writes them last) and leaves Events nil.
func readHead(r io.Reader) (*document, error) {
	return decodeDocument(json.NewDecoder(r), nil)
}

// readAll reads a whole store file.
func readAll(data []byte) (*document, error) {
	return decodeDocument(json.NewDecoder(bytes.NewReader(data)), data)
}

// decodeDocument reads a store file from dec. With data, the whole file that
// dec reads, it reads the events too: when they are the last key, as this
// package writes them, they are split without being decoded, which makes a
// write much cheaper than decoding thousands of events. Without data, it
// stops before the events.
func decodeDocument(dec *json.Decoder, data []byte) (*document, error) {
	d := &document{}
	if tok, err := dec.Token(); err != nil {
		return nil, err
	} else if tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var format int
	var haveVersion bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		switch key {
		case "format":
			err = dec.Decode(&format)
			if err == nil && format > Format {
				return nil, fmt.Errorf("the file has format %d; this program reads format %d and older: use a newer maintenance", format, Format)
			}
		case "version":
			err, haveVersion = dec.Decode(&d.Version), true
		case "state":
			d.State = new(maintenance.State)
			err = dec.Decode(d.State)
		case "events":
			if data == nil && d.State != nil && haveVersion {
				return finish(d, haveVersion)
			}
			if data != nil {
				evs, end, serr := splitArray(data, int(dec.InputOffset()))
				if serr == nil && string(bytes.TrimSpace(data[end:])) == "}" {
					d.Events = evs
					return finish(d, haveVersion)
				}
			}
			if err = dec.Decode(&d.Events); err == nil {
				for _, e := range d.Events {
					if len(e) == 0 || e[0] != '{' {
						return nil, errors.New(`decoding "events": an event is not a JSON object`)
					}
				}
			}
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return nil, fmt.Errorf("decoding %q: %w", key, err)
		}
	}
	return finish(d, haveVersion)
}

// finish checks and completes a decoded document.
func finish(d *document, haveVersion bool) (*document, error) {
	if d.State == nil {
		return nil, errors.New(`no "state" in the file`)
	}
	if !haveVersion {
		d.Version = d.State.Version
	}
	d.State.Version = d.Version
	d.State.Normalize()
	return d, nil
}

// splitArray splits the JSON array that starts at data[i] (after blanks and
// an optional ':') into its elements, and returns the offset just after it.
// It checks the structure (brackets, strings, commas), not the elements'
// content: they are kept as they are and decoded only when they are listed.
func splitArray(data []byte, i int) (elems []json.RawMessage, end int, err error) {
	bad := errors.New("malformed events array")
	skip := func() {
		for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
			i++
		}
	}
	skip()
	if i < len(data) && data[i] == ':' {
		i++
		skip()
	}
	if i >= len(data) || data[i] != '[' {
		return nil, 0, bad
	}
	i++
	skip()
	if i < len(data) && data[i] == ']' {
		return nil, i + 1, nil
	}
	for {
		skip()
		start, depth, inString := i, 0, false
	scan:
		for ; i < len(data); i++ {
			c := data[i]
			if inString {
				switch c {
				case '\\':
					i++
				case '"':
					inString = false
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				if depth == 0 {
					break scan
				}
				depth--
			case ',':
				if depth == 0 {
					break scan
				}
			}
		}
		if i >= len(data) {
			return nil, 0, bad
		}
		elem := bytes.TrimSpace(data[start:i])
		if len(elem) == 0 || elem[0] != '{' || elem[len(elem)-1] != '}' {
			return nil, 0, bad
		}
		elems = append(elems, elem)
		switch data[i] {
		case ']':
			return elems, i + 1, nil
		case ',':
			i++
		default:
			return nil, 0, bad
		}
	}
}

// encode returns the file's content: one line for the header, one for the
// state and one per event, so that the file reads well and diffs well.
func (d *document) encode() ([]byte, error) {
	var b bytes.Buffer
	state, err := json.Marshal(d.State)
	if err != nil {
		return nil, fmt.Errorf("encoding the state: %w", err)
	}
	b.WriteString(`{"format":` + strconv.Itoa(Format) + `,"version":` + strconv.FormatInt(d.Version, 10) + ",\n")
	b.WriteString(`"state":`)
	b.Write(state)
	b.WriteString(",\n" + `"events":[`)
	for i, e := range d.Events {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
		b.Write(e)
	}
	b.WriteString("\n]}\n")
	return b.Bytes(), nil
}

// lastEventID returns the ID of the newest event, 0 when there is none.
func (d *document) lastEventID() (int64, error) {
	if len(d.Events) == 0 {
		return 0, nil
	}
	var e struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(d.Events[len(d.Events)-1], &e); err != nil {
		return 0, fmt.Errorf("decoding the last event: %w", err)
	}
	return e.ID, nil
}
