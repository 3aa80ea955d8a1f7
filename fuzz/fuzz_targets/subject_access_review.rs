//! The SubjectAccessReview request body (v1 or v1beta1), as the API server
//! (or anyone with an azure client certificate) sends it, and what the
//! authorizer derives from it: the Azure actions and the answer.
#![no_main]

use guard_authz::actions::{self, Operations, Request};
use guard_authz::review::{SarRequest, SubjectAccessReviewStatus};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(review) = SarRequest::parse(data) else {
        return;
    };
    if let Some(request) = Request::from_spec(&review.spec) {
        let operations = actions::operations_map(
            "Microsoft.ContainerService/managedClusters",
            &[("v1".into(), "pods".into(), true), ("apps".into(), "deployments".into(), true)],
            &[
                "Microsoft.ContainerService/managedClusters/pods/read".into(),
                "Microsoft.ContainerService/managedClusters/apps/deployments/write".into(),
            ],
        );
        for ops in [Operations::default(), operations] {
            let _ = actions::data_actions(
                &request,
                &actions::Options {
                    resource_type: "Microsoft.ContainerService/managedClusters",
                    operations: &ops,
                    custom_resources: true,
                    subresources: true,
                },
            );
        }
    }
    let _ = review.answer(&SubjectAccessReviewStatus::default());
});
