// xsiot-lin-host: runs a Moddable lin app (mc.so built by `mcconfig -d -m -p lin -t build`)
// without a display. It does what mcsim's screen view does to start an app
// (Moddable 8.2.3 modules/piu/PC/Screen/lin/piuScreen.c: dlopen mc.so, dlsym
// fxScreenLaunch, give it a txScreen from build/simulators/modules/screen.h),
// minus GTK: the app's timers and sockets run on GLib's default main loop,
// trace() prints to stdout. Each line on stdin goes to the app as a string through
// screen->invoke (build/simulators/modules/screen.c fxScreenInvoke calls the
// global screen's onMessage). Exits 0 on SIGTERM/SIGINT or at the end of stdin,
// 2 when XS aborts.
//   cc -DmxLinux=1 -I$MODDABLE/build/simulators/modules host.c $(pkg-config --cflags --libs glib-2.0) -ldl
//   xsiot-lin-host path/to/mc.so
#include <dlfcn.h>
#include <glib.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "screen.h"

static GMainLoop* loop;
static guint idleSource;
static int exitStatus;

static gboolean onIdle(gpointer data) {
	txScreen* screen = data;
	if (screen->idle) (*screen->idle)(screen);
	return G_SOURCE_CONTINUE;
}
static gboolean quitLater(gpointer data) {
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}
static void onAbort(txScreen* screen, int status) {
	fprintf(stdout, "xsiot-lin-host: XS abort %d\n", status);
	fflush(stdout);
	exitStatus = 2;
	g_idle_add(quitLater, NULL);
}
static void onBufferChanged(txScreen* screen) {}
static void onFormatChanged(txScreen* screen) {}
static void onPost(txScreen* screen, char* buffer, int size) {
	fprintf(stdout, "xsiot-lin-host: post %.*s\n", size ? size : (int)strlen(buffer), buffer);
}
static void onStart(txScreen* screen, double interval) {
	if (idleSource) g_source_remove(idleSource);
	idleSource = g_timeout_add((guint)(interval > 1 ? interval : 1), onIdle, screen);
}
static void onStop(txScreen* screen) {
	if (idleSource) g_source_remove(idleSource);
	idleSource = 0;
}
static gboolean onInput(GIOChannel* channel, GIOCondition condition, gpointer data) {
	txScreen* screen = data;
	gchar* line = NULL;
	gsize length = 0, end = 0;
	GIOStatus status = g_io_channel_read_line(channel, &line, &length, &end, NULL);
	if (status == G_IO_STATUS_NORMAL && line) {
		line[end] = 0;
		if (end && screen->invoke) (*screen->invoke)(screen, line, 0);
		g_free(line);
		return G_SOURCE_CONTINUE;
	}
	g_free(line);
	if (status == G_IO_STATUS_AGAIN) return G_SOURCE_CONTINUE;
	g_main_loop_quit(loop); // end of stdin
	return G_SOURCE_REMOVE;
}
static gboolean onSignal(gpointer data) {
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

int main(int argc, char* argv[]) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s path/to/mc.so\n", argv[0]);
		return 64;
	}
	setvbuf(stdout, NULL, _IOLBF, 0); // trace() lines reach a pipe as they happen
	void* library = dlopen(argv[1], RTLD_NOW);
	if (!library) {
		fprintf(stderr, "xsiot-lin-host: %s\n", dlerror());
		return 66;
	}
	txScreenLaunchProc launch = (txScreenLaunchProc)dlsym(library, "fxScreenLaunch");
	if (!launch) {
		fprintf(stderr, "xsiot-lin-host: no fxScreenLaunch in %s\n", argv[1]);
		return 66;
	}
	const int width = 240, height = 320;
	txScreen* screen = calloc(1, sizeof(txScreen) - 1 + width * height * screenBytesPerPixel);
	screen->abort = onAbort;
	screen->bufferChanged = onBufferChanged;
	screen->formatChanged = onFormatChanged;
	screen->post = onPost;
	screen->start = onStart;
	screen->stop = onStop;
	screen->width = width;
	screen->height = height;
	mxCreateMutex(&screen->workersMutex);
	loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGTERM, onSignal, NULL);
	g_unix_signal_add(SIGINT, onSignal, NULL);
	(*launch)(screen);
	if (!screen->machine) {
		fprintf(stderr, "xsiot-lin-host: the app's machine was not created\n");
		return 70;
	}
	GIOChannel* input = g_io_channel_unix_new(0);
	g_io_add_watch(input, G_IO_IN | G_IO_HUP | G_IO_ERR, onInput, screen);
	g_main_loop_run(loop);
	if (screen->quit) (*screen->quit)(screen);
	fflush(stdout);
	return exitStatus;
}
