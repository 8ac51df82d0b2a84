# nova must patch (or decide not to) before anything imports it.
from nova import monkey_patch; monkey_patch.patch()  # noqa: E702,I001
