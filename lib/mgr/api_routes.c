/*
 * api_routes.c - the API's route table: every path and method vesseld
 * answers, in one const table (docs/api/vesseld.yaml documents the same
 * set; the conformance test checks both agree).
 */
#include "api_internal.h"

const struct api_route api_routes[] = {
	{ "GET", "/1.0", api_get_root, API_BODY_NONE },
	{ "GET", "/1.0/instances", api_get_instances, API_BODY_NONE },
	{ "POST", "/1.0/instances", api_post_instances, API_BODY_JSON_OR_STREAM },
	{ "GET", "/1.0/instances/{}", api_get_instance, API_BODY_NONE },
	{ "PUT", "/1.0/instances/{}", api_put_instance, API_BODY_JSON },
	{ "PATCH", "/1.0/instances/{}", api_patch_instance, API_BODY_JSON },
	{ "POST", "/1.0/instances/{}", api_post_instance, API_BODY_JSON },
	{ "DELETE", "/1.0/instances/{}", api_delete_instance, API_BODY_NONE },
	{ "GET", "/1.0/instances/{}/state", api_get_instance_state, API_BODY_NONE },
	{ "PUT", "/1.0/instances/{}/state", api_put_instance_state, API_BODY_JSON },
	{ "POST", "/1.0/instances/{}/exec", api_post_instance_exec, API_BODY_JSON },
	{ "GET", "/1.0/instances/{}/snapshots", api_get_snapshots, API_BODY_NONE },
	{ "POST", "/1.0/instances/{}/snapshots", api_post_snapshots, API_BODY_JSON },
	{ "GET", "/1.0/instances/{}/snapshots/{}", api_get_snapshot, API_BODY_NONE },
	{ "DELETE", "/1.0/instances/{}/snapshots/{}", api_delete_snapshot, API_BODY_NONE },
	{ "GET", "/1.0/images", api_get_images, API_BODY_NONE },
	{ "POST", "/1.0/images", api_post_images, API_BODY_JSON_OR_UPLOAD },
	{ "POST", "/1.0/images/aliases", api_post_image_aliases, API_BODY_JSON },
	{ "DELETE", "/1.0/images/aliases/{}", api_delete_image_alias, API_BODY_NONE },
	{ "GET", "/1.0/images/{}", api_get_image, API_BODY_NONE },
	{ "DELETE", "/1.0/images/{}", api_delete_image, API_BODY_NONE },
	{ "GET", "/1.0/networks", api_get_networks, API_BODY_NONE },
	{ "POST", "/1.0/networks", api_post_networks, API_BODY_JSON },
	{ "GET", "/1.0/networks/{}", api_get_network, API_BODY_NONE },
	{ "DELETE", "/1.0/networks/{}", api_delete_network, API_BODY_NONE },
	{ "GET", "/1.0/storage-volumes", api_get_volumes, API_BODY_NONE },
	{ "POST", "/1.0/storage-volumes", api_post_volumes, API_BODY_JSON },
	{ "GET", "/1.0/storage-volumes/{}", api_get_volume, API_BODY_NONE },
	{ "PATCH", "/1.0/storage-volumes/{}", api_patch_volume, API_BODY_JSON },
	{ "DELETE", "/1.0/storage-volumes/{}", api_delete_volume, API_BODY_NONE },
	{ "POST", "/1.0/storage-volumes/{}/attach", api_post_volume_attach, API_BODY_JSON },
	{ "POST", "/1.0/storage-volumes/{}/detach", api_post_volume_detach, API_BODY_JSON },
	{ "GET", "/1.0/certificates", api_get_certificates, API_BODY_NONE },
	{ "POST", "/1.0/certificates", api_post_certificates, API_BODY_JSON },
	{ "GET", "/1.0/certificates/{}", api_get_certificate, API_BODY_NONE },
	{ "DELETE", "/1.0/certificates/{}", api_delete_certificate, API_BODY_NONE },
	{ "GET", "/1.0/operations", api_get_operations, API_BODY_NONE },
	{ "GET", "/1.0/operations/{}", api_get_operation, API_BODY_NONE },
	{ "GET", "/1.0/operations/{}/wait", api_get_operation_wait, API_BODY_NONE },
	{ "DELETE", "/1.0/operations/{}", api_delete_operation, API_BODY_NONE },
	{ "GET", "/1.0/events", api_get_events, API_BODY_NONE },
	{ "GET", "/1.0/instances/{}/export", api_get_instance_export, API_BODY_NONE },
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
