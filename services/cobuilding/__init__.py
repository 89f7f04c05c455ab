"""Co-building (共建): a community's 大党委 member units, the resource / needs / project lists, one-click ordering
(一键下单) with 接单, matching needs to resources, and the figures of the seeds report."""
