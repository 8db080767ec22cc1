/*
 * compress.c - qcow2 compressed clusters (qcow2 spec: "Compressed Clusters
 * Descriptor", header field compression_type): type 0 is raw deflate with a
 * 4 KiB window (-12 window bits, as QEMU writes it), type 1 is one zstd
 * frame.  The stored data may carry trailing bytes (the descriptor counts
 * whole sectors), so decompression stops at the end of the stream and
 * succeeds only when exactly one cluster came out.
 */
#include <errno.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "qcow2.h"

static int inflate_cluster(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -12) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)in_len;
	z.next_out = out;
	z.avail_out = (uInt)out_len;
	int ret = inflate(&z, Z_FINISH);
	bool ok = (ret == Z_STREAM_END || ret == Z_BUF_ERROR) && z.avail_out == 0;
	inflateEnd(&z);
	return ok ? 0 : -EIO;
}

static int zstd_cluster(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	if (!d)
		return -ENOMEM;
	ZSTD_inBuffer ib = { in, in_len, 0 };
	ZSTD_outBuffer ob = { out, out_len, 0 };
	int r = -EIO;
	while (ob.pos < ob.size) {
		size_t ret = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(ret))
			break;
		if (ob.pos == ob.size) {
			r = 0;
			break;
		}
		if (ret == 0 || ib.pos == ib.size)
			break; /* frame ended early or input exhausted */
	}
	ZSTD_freeDStream(d);
	return r;
}

int qcow2_decompress(int type, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
	if (type == 0)
		return inflate_cluster(in, in_len, out, out_len);
	if (type == 1)
		return zstd_cluster(in, in_len, out, out_len);
	return -ENOTSUP;
}

long qcow2_compress(int type, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_max)
{
	if (type == 1) {
		size_t n = ZSTD_compress(out, out_max, in, in_len, 3);
		if (ZSTD_isError(n) || n >= out_max)
			return -ENOSPC;
		return (long)n;
	}
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)in_len;
	z.next_out = out;
	z.avail_out = (uInt)out_max;
	int ret = deflate(&z, Z_FINISH);
	long n = (long)(out_max - z.avail_out);
	deflateEnd(&z);
	if (ret != Z_STREAM_END)
		return -ENOSPC;
	return n;
}
