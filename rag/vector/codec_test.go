package vector

import (
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

func TestMarshalRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	ix := New(70)
	for i := range 300 {
		var m Meta
		if i%3 == 0 {
			m = Meta{"n": id(i % 7), "kind": "x"}
		}
		must(t, ix.Put(Item{ID: id(i), Vector: randVec(rng, 70), Meta: m}))
	}
	ix.Delete(id(5), id(100))
	b, err := ix.MarshalBinary()
	must(t, err)
	var back Index
	must(t, back.UnmarshalBinary(b))
	if back.Len() != ix.Len() || back.Dim() != 70 {
		t.Fatalf("decoded %d items of dim %d, want %d of 70", back.Len(), back.Dim(), ix.Len())
	}
	for range 20 {
		q := randVec(rng, 70)
		for _, f := range []Filter{nil, Where(Meta{"kind": "x"})} {
			want, err := ix.SearchMeta(q, 7, f)
			must(t, err)
			got, err := back.SearchMeta(q, 7, f)
			must(t, err)
			if d := gocmp.Diff(want, got); d != "" {
				t.Fatalf("search after round trip: (-want +got)\n%s", d)
			}
		}
	}
	again, err := back.MarshalBinary()
	must(t, err)
	if string(again) != string(b) {
		t.Error("re-encoding a decoded index changed the bytes")
	}
}

func TestDecodeCorrupt(t *testing.T) {
	ix := New(4)
	must(t, ix.Put(Item{ID: "a", Vector: []float32{1, 2, 3, 4}, Meta: Meta{"k": "v"}}))
	good, err := ix.MarshalBinary()
	must(t, err)
	flip := func(i int) []byte {
		b := append([]byte(nil), good...)
		b[i] ^= 0x40
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"bad magic", append([]byte("NOTVEC01"), good[8:]...)},
		{"truncated", good[:len(good)-5]},
		{"flipped vector byte", flip(len(good) - 6)},
		{"flipped checksum", flip(len(good) - 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := New(4)
			must(t, target.Put(Item{ID: "keep", Vector: []float32{0, 0, 0, 1}}))
			err := target.UnmarshalBinary(tc.data)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v, want ErrCorrupt", err)
			}
			if !target.Has("keep") || target.Len() != 1 {
				t.Error("failed UnmarshalBinary changed the index")
			}
		})
	}
}

// FuzzDecode feeds arbitrary bytes to Decode (which reads files from disk):
// it must return an error or a usable index, never panic or allocate
// without bound. The checksum is recomputed so that the fuzzer reaches the
// parser behind it.
func FuzzDecode(f *testing.F) {
	ix := New(3)
	must(f, ix.Put(
		Item{ID: "a", Vector: []float32{1, 0, 0}, Meta: Meta{"x": "y"}},
		Item{ID: "b", Vector: []float32{0, 1, 1}},
	))
	good, _ := ix.MarshalBinary()
	f.Add(good)
	f.Add(good[:len(good)-4])
	f.Add([]byte(magic))
	f.Add([]byte(magic + "\x03\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) >= 4 {
			body = body[:len(body)-4]
		}
		data := appendCRC(body)
		got, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		q := make([]float32, got.Dim())
		q[0] = 1
		if _, err := got.Search(q, 3, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func appendCRC(body []byte) []byte {
	b := append([]byte(nil), body...)
	return append(b, crcLE(b)...)
}

func crcLE(b []byte) []byte {
	c := crc32.Checksum(b, crcTable)
	return []byte{byte(c), byte(c >> 8), byte(c >> 16), byte(c >> 24)}
}
