/* Host stub of Moddable XS xsmc.h: only what sdk/native/esp32/esp32.c uses.
   Signatures follow xs/includes/xs.h + xsmc.h (value types, macro forms); bodies are absent. */
#ifndef XSIOT_STUB_XSMC_H
#define XSIOT_STUB_XSMC_H
#include <stdint.h>

typedef struct xsMachineRecord xsMachine;
typedef struct { void *data[4]; } xsSlot;
typedef int32_t xsIntegerValue;
typedef double xsNumberValue;
typedef char *xsStringValue;

xsSlot *xsStubResult(xsMachine *the);
xsSlot *xsStubArg(xsMachine *the, xsIntegerValue index);
xsIntegerValue xsStubToInteger(xsMachine *the, xsSlot *slot);
xsNumberValue xsStubToNumber(xsMachine *the, xsSlot *slot);
void xsStubSetInteger(xsMachine *the, xsSlot *slot, xsIntegerValue value);
void xsStubSetString(xsMachine *the, xsSlot *slot, xsStringValue value);
void *xsStubSetArrayBuffer(xsMachine *the, xsSlot *slot, void *data, xsIntegerValue length);
void *xsStubToArrayBuffer(xsMachine *the, xsSlot *slot);
xsIntegerValue xsStubGetArrayBufferLength(xsMachine *the, xsSlot *slot);
void xsStubThrow(xsMachine *the, int kind, const char *format, ...)
	__attribute__((noreturn, format(printf, 3, 4)));

#define xsResult (*xsStubResult(the))
#define xsArg(_INDEX) (*xsStubArg(the, (_INDEX)))
#define xsmcToInteger(_SLOT) xsStubToInteger(the, &(_SLOT))
#define xsmcToNumber(_SLOT) xsStubToNumber(the, &(_SLOT))
#define xsmcSetInteger(_SLOT, _VALUE) xsStubSetInteger(the, &(_SLOT), (_VALUE))
#define xsmcSetString(_SLOT, _VALUE) xsStubSetString(the, &(_SLOT), (_VALUE))
#define xsmcSetArrayBuffer(_SLOT, _DATA, _LENGTH) xsStubSetArrayBuffer(the, &(_SLOT), (_DATA), (_LENGTH))
#define xsmcToArrayBuffer(_SLOT) xsStubToArrayBuffer(the, &(_SLOT))
#define xsmcGetArrayBufferLength(_SLOT) xsStubGetArrayBufferLength(the, &(_SLOT))
#define xsUnknownError(...) xsStubThrow(the, 1, __VA_ARGS__)
#define xsRangeError(...) xsStubThrow(the, 2, __VA_ARGS__)

#endif
