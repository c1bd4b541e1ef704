package register

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
		devs   []Device
		assets []Asset
		links  []Link
		want   []Link // linkedAt "" for a new Link
	}{
		{
			name:   "serial",
			devs:   []Device{{ID: "d1", Serial: "SN1"}},
			assets: []Asset{{ID: "a1", Tag: "A-1", Serial: "SN1"}},
			want:   []Link{{AssetID: "a1", DeviceID: "d1", How: LinkSerial}},
		},
		{
			name:   "uuid as reported",
			devs:   []Device{{ID: "d1", UUID: testUUID}},
			assets: []Asset{{ID: "a1", Tag: "A-1", SerialUUID: testUUID}},
			want:   []Link{{AssetID: "a1", DeviceID: "d1", How: LinkUUID}},
		},
		{
			name:   "uuid in the other byte order",
			devs:   []Device{{ID: "d1", UUID: testUUID}},
			assets: []Asset{{ID: "a1", Tag: "A-1", SerialUUID: testUUIDSwapped}},
			want:   []Link{{AssetID: "a1", DeviceID: "d1", How: LinkUUID}},
		},
		{
			name:   "mac among several",
			devs:   []Device{{ID: "d1", MACs: "00:11:22:33:44:55,66:77:88:99:aa:bb"}},
			assets: []Asset{{ID: "a1", Tag: "A-1", SerialMAC: "66:77:88:99:aa:bb"}},
			want:   []Link{{AssetID: "a1", DeviceID: "d1", How: LinkMAC}},
		},
		{
			name:   "no match",
			devs:   []Device{{ID: "d1", Serial: "SN1", UUID: testUUID, MACs: "00:11:22:33:44:55"}},
			assets: []Asset{{ID: "a1", Tag: "A-1", Serial: "SN2", SerialUUID: "00000000-0000-0000-0000-000000000001", SerialMAC: "66:77:88:99:aa:bb"}},
		},
		{
			name:   "serial beats uuid for the asset",
			devs:   []Device{{ID: "d-serial", Serial: "SN1", LastSeen: early}, {ID: "d-uuid", UUID: testUUID, LastSeen: late}},
			assets: []Asset{{ID: "a1", Tag: "A-1", Serial: "SN1", SerialUUID: testUUID}},
			want:   []Link{{AssetID: "a1", DeviceID: "d-serial", How: LinkSerial}},
		},
		{
			name:   "serial beats mac for the device",
			devs:   []Device{{ID: "d1", Serial: "SN1", MACs: "00:11:22:33:44:55"}},
			assets: []Asset{{ID: "a-mac", Tag: "A-0", SerialMAC: "00:11:22:33:44:55"}, {ID: "a-serial", Tag: "A-9", Serial: "SN1"}},
			want:   []Link{{AssetID: "a-serial", DeviceID: "d1", How: LinkSerial}},
		},
		{
			name:   "uuid beats mac, and the mac goes to the next device",
			devs:   []Device{{ID: "d1", UUID: testUUID, MACs: "00:11:22:33:44:55"}, {ID: "d2", MACs: "00:11:22:33:44:55"}},
			assets: []Asset{{ID: "a-mac", Tag: "A-1", SerialMAC: "00:11:22:33:44:55"}, {ID: "a-uuid", Tag: "A-2", SerialUUID: testUUIDSwapped}},
			want:   []Link{{AssetID: "a-uuid", DeviceID: "d1", How: LinkUUID}, {AssetID: "a-mac", DeviceID: "d2", How: LinkMAC}},
		},
		{
			name:   "manual Link stays though the serial names another device",
			devs:   []Device{{ID: "d-manual"}, {ID: "d-serial", Serial: "SN1"}},
			assets: []Asset{{ID: "a1", Tag: "A-1", Serial: "SN1"}},
			links:  []Link{{AssetID: "a1", DeviceID: "d-manual", How: LinkManual, LinkedAt: early}},
			want:   []Link{{AssetID: "a1", DeviceID: "d-manual", How: LinkManual, LinkedAt: early}},
		},
		{
			name:   "a manually linked device takes no automatic match",
			devs:   []Device{{ID: "d1", Serial: "SN2"}},
			assets: []Asset{{ID: "a1", Tag: "A-1"}, {ID: "a2", Tag: "A-2", Serial: "SN2"}},
			links:  []Link{{AssetID: "a1", DeviceID: "d1", How: LinkManual, LinkedAt: early}},
			want:   []Link{{AssetID: "a1", DeviceID: "d1", How: LinkManual, LinkedAt: early}},
		},
		{
			name:   "tie between clones: the device seen last",
			devs:   []Device{{ID: "d-old", Serial: "SN1", LastSeen: early}, {ID: "d-new", Serial: "SN1", LastSeen: late}},
			assets: []Asset{{ID: "a1", Tag: "A-1", Serial: "SN1"}},
			want:   []Link{{AssetID: "a1", DeviceID: "d-new", How: LinkSerial}},
		},
		{
			name:   "tie between clones: an existing Link stays",
			devs:   []Device{{ID: "d-old", Serial: "SN1", LastSeen: early}, {ID: "d-new", Serial: "SN1", LastSeen: late}},
			assets: []Asset{{ID: "a1", Tag: "A-1", Serial: "SN1"}},
			links:  []Link{{AssetID: "a1", DeviceID: "d-old", How: LinkSerial, LinkedAt: early}},
			want:   []Link{{AssetID: "a1", DeviceID: "d-old", How: LinkSerial, LinkedAt: early}},
		},
		{
			name:   "tie between clones seen at once: the smaller device id",
			devs:   []Device{{ID: "d-b", Serial: "SN1", LastSeen: early}, {ID: "d-a", Serial: "SN1", LastSeen: early}},
			assets: []Asset{{ID: "a1", Tag: "A-1", Serial: "SN1"}},
			want:   []Link{{AssetID: "a1", DeviceID: "d-a", How: LinkSerial}},
		},
		{
			name:   "duplicate serial in the register: the smaller tag",
			devs:   []Device{{ID: "d1", Serial: "SN1"}},
			assets: []Asset{{ID: "a-z", Tag: "A-9", Serial: "SN1"}, {ID: "a-a", Tag: "A-1", Serial: "SN1"}},
			want:   []Link{{AssetID: "a-a", DeviceID: "d1", How: LinkSerial}},
		},
		{
			name:   "an existing Link matched otherwise now starts again",
			devs:   []Device{{ID: "d1", Serial: "SN1", UUID: testUUID}},
			assets: []Asset{{ID: "a1", Tag: "A-1", Serial: "SN1", SerialUUID: testUUID}},
			links:  []Link{{AssetID: "a1", DeviceID: "d1", How: LinkUUID, LinkedAt: early}},
			want:   []Link{{AssetID: "a1", DeviceID: "d1", How: LinkSerial}},
		},
		{
			name:   "an automatic Link that no longer matches goes",
			devs:   []Device{{ID: "d1", Serial: "SN-NEW"}},
			assets: []Asset{{ID: "a1", Tag: "A-1", Serial: "SN1"}},
			links:  []Link{{AssetID: "a1", DeviceID: "d1", How: LinkSerial, LinkedAt: early}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewScope()
			for _, d := range tt.devs {
				s.Devices[d.ID] = &d
			}
			for _, a := range tt.assets {
				s.Assets[a.ID] = &a
			}
			for _, l := range tt.links {
				s.Links[l.AssetID] = l
			}
			want := map[string]Link{}
			for _, l := range tt.want {
				want[l.AssetID] = l
			}
			if got := MatchLinks(s); !maps.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}
