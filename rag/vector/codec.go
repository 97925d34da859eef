package vector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"slices"
)

// magic starts every serialised index; the digit is the format version.
const magic = "KEELVEC1"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes the index: dimension, ids, metadata and the float32
// vectors, followed by a CRC-32C. Quantised codes are not stored; loading
// recomputes them, which is faster than reading them from disk would be.
func (ix *Index) MarshalBinary() ([]byte, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	b := make([]byte, 0, len(magic)+16+len(ix.vecs)*4+len(ix.ids)*24+4)
	b = append(b, magic...)
	b = binary.AppendUvarint(b, uint64(ix.dim))
	b = binary.AppendUvarint(b, uint64(len(ix.ids)))
	for r, id := range ix.ids {
		b = appendString(b, id)
		m := ix.meta[r]
		b = binary.AppendUvarint(b, uint64(len(m)))
		// Sorted keys make the encoding a function of the content.
		for _, k := range slices.Sorted(maps.Keys(m)) {
			b = appendString(b, k)
			b = appendString(b, m[k])
		}
	}
	b, err := binary.Append(b, binary.LittleEndian, ix.vecs)
	if err != nil {
		return nil, fmt.Errorf("vector: encode: %w", err)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable)), nil
}

// UnmarshalBinary replaces the index's contents with an encoding made by
// MarshalBinary. On error the index is unchanged. It may be called on a
// zero Index.
func (ix *Index) UnmarshalBinary(data []byte) error {
	fresh, err := Decode(data)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.dim, ix.stride = fresh.dim, fresh.stride
	ix.ids, ix.meta, ix.rows = fresh.ids, fresh.meta, fresh.rows
	ix.vecs, ix.codes, ix.scales, ix.sums = fresh.vecs, fresh.codes, fresh.scales, fresh.sums
	return nil
}

// ErrCorrupt is wrapped by the errors of Decode for data that is not a
// well-formed index.
var ErrCorrupt = errors.New("corrupt vector index")

// Decode returns the index encoded in data by MarshalBinary.
func Decode(data []byte) (*Index, error) {
	d := decoder{b: data}
	if len(data) < len(magic)+4 || string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("vector: decode: %w: bad header", ErrCorrupt)
	}
	body := data[:len(data)-4]
	if got, want := crc32.Checksum(body, crcTable), binary.LittleEndian.Uint32(data[len(data)-4:]); got != want {
		return nil, fmt.Errorf("vector: decode: %w: checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	d.b = body[len(magic):]
	dim := d.uvarint("dimension")
	n := d.uvarint("count")
	if d.err == nil && (dim == 0 || dim > MaxDim) {
		d.fail("dimension %d out of range", dim)
	}
	// Each item takes at least one byte of id length, one of metadata count
	// and 4·dim of vector, so n is bounded by what is left.
	if d.err == nil && n > uint64(len(d.b))/(2+4*dim) {
		d.fail("count %d larger than the data", n)
	}
	if d.err != nil {
		return nil, d.err
	}
	ix := New(int(dim))
	ix.ids = make([]string, 0, n)
	ix.meta = make([]Meta, 0, n)
	for i := range n {
		id := d.string("id")
		nm := d.uvarint("metadata count")
		if d.err == nil && nm > uint64(len(d.b))/2 {
			d.fail("item %d: metadata count %d larger than the data", i, nm)
		}
		var m Meta
		if d.err == nil && nm > 0 {
			m = make(Meta, nm)
			for range nm {
				k := d.string("metadata key")
				m[k] = d.string("metadata value")
			}
		}
		if d.err != nil {
			return nil, d.err
		}
		if id == "" {
			return nil, fmt.Errorf("vector: decode: %w: item %d has an empty id", ErrCorrupt, i)
		}
		if _, dup := ix.rows[id]; dup {
			return nil, fmt.Errorf("vector: decode: %w: duplicate id %q", ErrCorrupt, id)
		}
		ix.rows[id] = len(ix.ids)
		ix.ids = append(ix.ids, id)
		ix.meta = append(ix.meta, m)
	}
	if want := int(n) * ix.dim * 4; len(d.b) != want {
		return nil, fmt.Errorf("vector: decode: %w: %d bytes of vectors, want %d", ErrCorrupt, len(d.b), want)
	}
	ix.vecs = make([]float32, int(n)*ix.dim)
	if _, err := binary.Decode(d.b, binary.LittleEndian, ix.vecs); err != nil {
		return nil, fmt.Errorf("vector: decode: %w: %v", ErrCorrupt, err)
	}
	ix.codes = make([]int8, int(n)*ix.stride)
	ix.scales = make([]float32, n)
	ix.sums = make([]int32, n)
	for r := range int(n) {
		v := ix.vecs[r*ix.dim : (r+1)*ix.dim]
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		// Stored vectors are unit length; anything else was not written by
		// MarshalBinary and would corrupt scores.
		if math.IsNaN(ss) || math.Abs(ss-1) > 1e-3 {
			return nil, fmt.Errorf("vector: decode: %w: item %q is not a unit vector", ErrCorrupt, ix.ids[r])
		}
		ix.scales[r], ix.sums[r] = quantise(v, ix.codes[r*ix.stride:(r+1)*ix.stride])
	}
	return ix, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("vector: decode: %w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(what string) string {
	l := d.uvarint(what + " length")
	if d.err != nil {
		return ""
	}
	if l > uint64(len(d.b)) {
		d.fail("%s length %d larger than the data", what, l)
		return ""
	}
	s := string(d.b[:l])
	d.b = d.b[l:]
	return s
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
