package registry

import (
	"maps"
	"testing"
)

// A Dell-style SMBIOS UUID and the same UUID in the other byte order
// (registers copy whichever the tool they used printed).
const (
	testUUID        = "4c4c4544-0042-3510-8052-b2c04f4b4d32"
	testUUIDSwapped = "44454c4c-4200-1035-8052-b2c04f4b4d32"
)

func TestMatchLinks(t *testing.T) {
	t.Parallel()
	const (
		early = "2025-03-01T10:00:00.000000000Z"
		late  = "2025-03-02T10:00:00.000000000Z"
	)
	tests := []struct {
		name   string
		devs   []devKey
		assets []assetKey
		links  []link
		want   []link // linkedAt "" for a new link
	}{
		{
			name:   "serial",
			devs:   []devKey{{id: "d1", serial: "SN1"}},
			assets: []assetKey{{id: "a1", tag: "A-1", serial: "SN1"}},
			want:   []link{{assetID: "a1", deviceID: "d1", how: LinkSerial}},
		},
		{
			name:   "uuid as reported",
			devs:   []devKey{{id: "d1", uuid: testUUID}},
			assets: []assetKey{{id: "a1", tag: "A-1", suuid: testUUID}},
			want:   []link{{assetID: "a1", deviceID: "d1", how: LinkUUID}},
		},
		{
			name:   "uuid in the other byte order",
			devs:   []devKey{{id: "d1", uuid: testUUID}},
			assets: []assetKey{{id: "a1", tag: "A-1", suuid: testUUIDSwapped}},
			want:   []link{{assetID: "a1", deviceID: "d1", how: LinkUUID}},
		},
		{
			name:   "mac among several",
			devs:   []devKey{{id: "d1", macs: "00:11:22:33:44:55,66:77:88:99:aa:bb"}},
			assets: []assetKey{{id: "a1", tag: "A-1", smac: "66:77:88:99:aa:bb"}},
			want:   []link{{assetID: "a1", deviceID: "d1", how: LinkMAC}},
		},
		{
			name:   "no match",
			devs:   []devKey{{id: "d1", serial: "SN1", uuid: testUUID, macs: "00:11:22:33:44:55"}},
			assets: []assetKey{{id: "a1", tag: "A-1", serial: "SN2", suuid: "00000000-0000-0000-0000-000000000001", smac: "66:77:88:99:aa:bb"}},
		},
		{
			name:   "serial beats uuid for the asset",
			devs:   []devKey{{id: "d-serial", serial: "SN1", lastSeen: early}, {id: "d-uuid", uuid: testUUID, lastSeen: late}},
			assets: []assetKey{{id: "a1", tag: "A-1", serial: "SN1", suuid: testUUID}},
			want:   []link{{assetID: "a1", deviceID: "d-serial", how: LinkSerial}},
		},
		{
			name:   "serial beats mac for the device",
			devs:   []devKey{{id: "d1", serial: "SN1", macs: "00:11:22:33:44:55"}},
			assets: []assetKey{{id: "a-mac", tag: "A-0", smac: "00:11:22:33:44:55"}, {id: "a-serial", tag: "A-9", serial: "SN1"}},
			want:   []link{{assetID: "a-serial", deviceID: "d1", how: LinkSerial}},
		},
		{
			name:   "uuid beats mac, and the mac goes to the next device",
			devs:   []devKey{{id: "d1", uuid: testUUID, macs: "00:11:22:33:44:55"}, {id: "d2", macs: "00:11:22:33:44:55"}},
			assets: []assetKey{{id: "a-mac", tag: "A-1", smac: "00:11:22:33:44:55"}, {id: "a-uuid", tag: "A-2", suuid: testUUIDSwapped}},
			want:   []link{{assetID: "a-uuid", deviceID: "d1", how: LinkUUID}, {assetID: "a-mac", deviceID: "d2", how: LinkMAC}},
		},
		{
			name:   "manual link stays though the serial names another device",
			devs:   []devKey{{id: "d-manual"}, {id: "d-serial", serial: "SN1"}},
			assets: []assetKey{{id: "a1", tag: "A-1", serial: "SN1"}},
			links:  []link{{assetID: "a1", deviceID: "d-manual", how: LinkManual, linkedAt: early}},
			want:   []link{{assetID: "a1", deviceID: "d-manual", how: LinkManual, linkedAt: early}},
		},
		{
			name:   "a manually linked device takes no automatic match",
			devs:   []devKey{{id: "d1", serial: "SN2"}},
			assets: []assetKey{{id: "a1", tag: "A-1"}, {id: "a2", tag: "A-2", serial: "SN2"}},
			links:  []link{{assetID: "a1", deviceID: "d1", how: LinkManual, linkedAt: early}},
			want:   []link{{assetID: "a1", deviceID: "d1", how: LinkManual, linkedAt: early}},
		},
		{
			name:   "tie between clones: the device seen last",
			devs:   []devKey{{id: "d-old", serial: "SN1", lastSeen: early}, {id: "d-new", serial: "SN1", lastSeen: late}},
			assets: []assetKey{{id: "a1", tag: "A-1", serial: "SN1"}},
			want:   []link{{assetID: "a1", deviceID: "d-new", how: LinkSerial}},
		},
		{
			name:   "tie between clones: an existing link stays",
			devs:   []devKey{{id: "d-old", serial: "SN1", lastSeen: early}, {id: "d-new", serial: "SN1", lastSeen: late}},
			assets: []assetKey{{id: "a1", tag: "A-1", serial: "SN1"}},
			links:  []link{{assetID: "a1", deviceID: "d-old", how: LinkSerial, linkedAt: early}},
			want:   []link{{assetID: "a1", deviceID: "d-old", how: LinkSerial, linkedAt: early}},
		},
		{
			name:   "tie between clones seen at once: the smaller device id",
			devs:   []devKey{{id: "d-b", serial: "SN1", lastSeen: early}, {id: "d-a", serial: "SN1", lastSeen: early}},
			assets: []assetKey{{id: "a1", tag: "A-1", serial: "SN1"}},
			want:   []link{{assetID: "a1", deviceID: "d-a", how: LinkSerial}},
		},
		{
			name:   "duplicate serial in the register: the smaller tag",
			devs:   []devKey{{id: "d1", serial: "SN1"}},
			assets: []assetKey{{id: "a-z", tag: "A-9", serial: "SN1"}, {id: "a-a", tag: "A-1", serial: "SN1"}},
			want:   []link{{assetID: "a-a", deviceID: "d1", how: LinkSerial}},
		},
		{
			name:   "an existing link matched otherwise now starts again",
			devs:   []devKey{{id: "d1", serial: "SN1", uuid: testUUID}},
			assets: []assetKey{{id: "a1", tag: "A-1", serial: "SN1", suuid: testUUID}},
			links:  []link{{assetID: "a1", deviceID: "d1", how: LinkUUID, linkedAt: early}},
			want:   []link{{assetID: "a1", deviceID: "d1", how: LinkSerial}},
		},
		{
			name:   "an automatic link that no longer matches goes",
			devs:   []devKey{{id: "d1", serial: "SN-NEW"}},
			assets: []assetKey{{id: "a1", tag: "A-1", serial: "SN1"}},
			links:  []link{{assetID: "a1", deviceID: "d1", how: LinkSerial, linkedAt: early}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newScope()
			for _, d := range tt.devs {
				s.devs[d.id] = &d
			}
			for _, a := range tt.assets {
				s.assets[a.id] = &a
			}
			for _, l := range tt.links {
				s.links[l.assetID] = l
			}
			want := map[string]link{}
			for _, l := range tt.want {
				want[l.assetID] = l
			}
			if got := matchLinks(s); !maps.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}
