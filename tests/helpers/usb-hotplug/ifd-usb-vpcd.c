/*
 * A USB reader for pcscd without USB hardware, for kantine's tests: an IFD handler that pcscd
 * loads for a (simulated) USB device and that hands every call on to vsmartcard's vpcd driver,
 * whose slot it opens on the port in KANTINE_VPCD_PORT instead of the USB device pcscd names.
 * pcscd then adds and removes it like any USB reader when udev says it was plugged in or out,
 * which vpcd's own reader (declared in reader.conf) never is.
 *
 * Environment (pcscd's): KANTINE_VPCD_LIB, the vpcd driver to load; KANTINE_VPCD_PORT, its port.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <PCSC/ifdhandler.h>

static void *vpcd;

/* The driver's entry points, looked up once. */
static RESPONSECODE (*create_by_name)(DWORD, LPSTR);
static RESPONSECODE (*create)(DWORD, DWORD);
static RESPONSECODE (*close_channel)(DWORD);
static RESPONSECODE (*get_capabilities)(DWORD, DWORD, PDWORD, PUCHAR);
static RESPONSECODE (*set_capabilities)(DWORD, DWORD, DWORD, PUCHAR);
static RESPONSECODE (*set_protocol)(DWORD, DWORD, UCHAR, UCHAR, UCHAR, UCHAR);
static RESPONSECODE (*power)(DWORD, DWORD, PUCHAR, PDWORD);
static RESPONSECODE (*transmit)(DWORD, SCARD_IO_HEADER, PUCHAR, DWORD, PUCHAR, PDWORD, PSCARD_IO_HEADER);
static RESPONSECODE (*control)(DWORD, DWORD, PUCHAR, DWORD, PUCHAR, DWORD, LPDWORD);
static RESPONSECODE (*presence)(DWORD);

static int load(void)
{
	const char *path = getenv("KANTINE_VPCD_LIB");

	if (vpcd)
		return 1;
	if (!path)
		path = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
	vpcd = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!vpcd) {
		fprintf(stderr, "ifd-usb-vpcd: %s\n", dlerror());
		return 0;
	}
	*(void **)&create_by_name = dlsym(vpcd, "IFDHCreateChannelByName");
	*(void **)&create = dlsym(vpcd, "IFDHCreateChannel");
	*(void **)&close_channel = dlsym(vpcd, "IFDHCloseChannel");
	*(void **)&get_capabilities = dlsym(vpcd, "IFDHGetCapabilities");
	*(void **)&set_capabilities = dlsym(vpcd, "IFDHSetCapabilities");
	*(void **)&set_protocol = dlsym(vpcd, "IFDHSetProtocolParameters");
	*(void **)&power = dlsym(vpcd, "IFDHPowerICC");
	*(void **)&transmit = dlsym(vpcd, "IFDHTransmitToICC");
	*(void **)&control = dlsym(vpcd, "IFDHControl");
	*(void **)&presence = dlsym(vpcd, "IFDHICCPresence");
	if (!create_by_name || !create || !close_channel || !get_capabilities || !set_capabilities
		|| !set_protocol || !power || !transmit || !control || !presence) {
		fprintf(stderr, "ifd-usb-vpcd: %s is not an IFD handler\n", path);
		return 0;
	}
	return 1;
}

RESPONSECODE IFDHCreateChannelByName(DWORD Lun, LPSTR DeviceName)
{
	const char *port = getenv("KANTINE_VPCD_PORT");
	char name[64];

	(void)DeviceName; /* usb:VID/PID:libudev:N:/dev/bus/usb/... */
	if (!load() || !port)
		return IFD_COMMUNICATION_ERROR;
	/* vpcd's own form: "/dev/null:PORT" listens on PORT for a virtual card */
	snprintf(name, sizeof(name), "/dev/null:%s", port);
	return create_by_name(Lun, name);
}

RESPONSECODE IFDHCreateChannel(DWORD Lun, DWORD Channel)
{
	const char *port = getenv("KANTINE_VPCD_PORT");

	(void)Channel;
	if (!load() || !port)
		return IFD_COMMUNICATION_ERROR;
	return create(Lun, strtoul(port, NULL, 0));
}

RESPONSECODE IFDHCloseChannel(DWORD Lun)
{
	return load() ? close_channel(Lun) : IFD_COMMUNICATION_ERROR;
}

RESPONSECODE IFDHGetCapabilities(DWORD Lun, DWORD Tag, PDWORD Length, PUCHAR Value)
{
	/* one slot, as a USB NFC reader has (vpcd's own reader has two) */
	if (Tag == TAG_IFD_SLOTS_NUMBER && *Length >= 1) {
		*Length = 1;
		Value[0] = 1;
		return IFD_SUCCESS;
	}
	return load() ? get_capabilities(Lun, Tag, Length, Value) : IFD_COMMUNICATION_ERROR;
}

RESPONSECODE IFDHSetCapabilities(DWORD Lun, DWORD Tag, DWORD Length, PUCHAR Value)
{
	return load() ? set_capabilities(Lun, Tag, Length, Value) : IFD_COMMUNICATION_ERROR;
}

RESPONSECODE IFDHSetProtocolParameters(DWORD Lun, DWORD Protocol, UCHAR Flags, UCHAR PTS1, UCHAR PTS2,
	UCHAR PTS3)
{
	return load() ? set_protocol(Lun, Protocol, Flags, PTS1, PTS2, PTS3) : IFD_COMMUNICATION_ERROR;
}

RESPONSECODE IFDHPowerICC(DWORD Lun, DWORD Action, PUCHAR Atr, PDWORD AtrLength)
{
	return load() ? power(Lun, Action, Atr, AtrLength) : IFD_COMMUNICATION_ERROR;
}

RESPONSECODE IFDHTransmitToICC(DWORD Lun, SCARD_IO_HEADER SendPci, PUCHAR TxBuffer, DWORD TxLength,
	PUCHAR RxBuffer, PDWORD RxLength, PSCARD_IO_HEADER RecvPci)
{
	return load() ? transmit(Lun, SendPci, TxBuffer, TxLength, RxBuffer, RxLength, RecvPci)
		: IFD_COMMUNICATION_ERROR;
}

RESPONSECODE IFDHControl(DWORD Lun, DWORD dwControlCode, PUCHAR TxBuffer, DWORD TxLength, PUCHAR RxBuffer,
	DWORD RxLength, LPDWORD pdwBytesReturned)
{
	return load() ? control(Lun, dwControlCode, TxBuffer, TxLength, RxBuffer, RxLength, pdwBytesReturned)
		: IFD_COMMUNICATION_ERROR;
}

RESPONSECODE IFDHICCPresence(DWORD Lun)
{
	return load() ? presence(Lun) : IFD_COMMUNICATION_ERROR;
}
